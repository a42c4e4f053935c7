from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, RadioField, SelectField, StringField, TelField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from storefront import addresses, payments
from storefront.blueprints.validators import (
    REQUIRED,
    has_visible_character,
    name_field,
    no_control_characters,
    strip,
)
from storefront.models import (
    ADDRESS_LINE_MAX_CHARS,
    CITY_MAX_CHARS,
    IDEMPOTENCY_KEY_MAX_CHARS,
    PHONE_MAX_CHARS,
    POSTAL_CODE_MAX_CHARS,
    REGION_MAX_CHARS,
)

RELOAD = "This page is out of date: please review your order again."


def _text(label: str, max_chars: int, required: bool = True) -> StringField:
    checks = [DataRequired(REQUIRED), has_visible_character] if required else [Optional()]
    return StringField(label, filters=[strip],
                       validators=[*checks, Length(max=max_chars), no_control_characters])


class AddressForm(FlaskForm):
    full_name = name_field("Full name")
    line1 = _text("Address line 1", ADDRESS_LINE_MAX_CHARS)
    line2 = _text("Address line 2 (optional)", ADDRESS_LINE_MAX_CHARS, required=False)
    city = _text("City or town", CITY_MAX_CHARS)
    postal_code = _text("Postal code", POSTAL_CODE_MAX_CHARS, required=False)
    region = _text("State, province or region", REGION_MAX_CHARS, required=False)
    country = SelectField("Country", validate_choice=False,
                          validators=[DataRequired("Choose a country from the list.")])
    phone = TelField("Phone (optional)", filters=[strip],
                     validators=[Optional(), Length(max=PHONE_MAX_CHARS), no_control_characters])
    default_shipping = BooleanField("Use as my default shipping address")
    default_billing = BooleanField("Use as my default billing address")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.country.choices = [SelectChoice("", "Choose a country")] + [
            SelectChoice(code, name) for code, name in addresses.countries()]

    def validate_country(self, field: SelectField) -> None:
        if field.data and field.data not in addresses.country_codes():
            from wtforms.validators import ValidationError

            raise ValidationError("Choose a country from the list.")

    def address_data(self) -> addresses.AddressData:
        return addresses.AddressData(
            full_name=self.full_name.data, line1=self.line1.data, line2=self.line2.data or "",
            city=self.city.data, postal_code=self.postal_code.data or "",
            region=self.region.data or "", country=self.country.data,
            phone=self.phone.data or None, default_shipping=bool(self.default_shipping.data),
            default_billing=bool(self.default_billing.data),
        )


class CheckoutForm(FlaskForm):
    """Ids arrive as text: the view parses them (not a number: 422; not this account's
    address: 404)."""

    shipping_address_id = StringField(
        "Ship to", filters=[strip], validators=[DataRequired("Choose where to send your order.")])
    billing_address_id = StringField("Bill to", filters=[strip], validators=[Optional()])
    payment_method = RadioField(
        "Payment", choices=[SelectChoice(m.code, m.label) for m in payments.METHODS.values()],
        validators=[DataRequired("Choose how you will pay.")],
    )
    idempotency_key = HiddenField(
        validators=[DataRequired(RELOAD), Length(max=IDEMPOTENCY_KEY_MAX_CHARS, message=RELOAD)])


class ButtonForm(FlaskForm):
    """A button-only POST (delete an address, cancel an order): the CSRF token alone."""
