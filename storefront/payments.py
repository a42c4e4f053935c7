"""Payment methods: one small interface, and the two manual methods the shop takes.

A method says what the shopper is told when the order is placed (its instructions) and the
reference the payment must carry. Neither takes money online: a bank transfer leaves the order
`placed` (awaiting payment) until staff mark it paid; cash on delivery is paid to the courier.
A provider that takes money online would implement the same interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from flask import current_app

from storefront.exceptions import UnknownPaymentMethod
from storefront.money import format_money

BANK_TRANSFER = "bank_transfer"
CASH_ON_DELIVERY = "cash_on_delivery"


class PaymentMethod(Protocol):
    code: str
    label: str
    summary: str

    def reference_for(self, order_number: str) -> str | None:
        """The reference the payment must carry, stored with the order (None: none needed)."""

    def instructions(self, order_number: str, total: Decimal, currency: str,
                     reference: str | None) -> str:
        """What the shopper must do to pay, shown on the order page and in the mail."""


@dataclass(frozen=True)
class BankTransfer:
    code: str = BANK_TRANSFER
    label: str = "Bank transfer"
    summary: str = "Pay by bank transfer; we send the order when the payment arrives."

    def reference_for(self, order_number: str) -> str:
        return order_number

    def instructions(self, order_number: str, total: Decimal, currency: str,
                     reference: str | None) -> str:
        config = current_app.config
        return (f"Please transfer {format_money(total, currency)} to "
                f"{config['BANK_TRANSFER_HOLDER']}, IBAN {config['BANK_TRANSFER_IBAN']}, "
                f"with the reference {reference or order_number}. We send your order as soon "
                "as the payment arrives.")


@dataclass(frozen=True)
class CashOnDelivery:
    code: str = CASH_ON_DELIVERY
    label: str = "Cash on delivery"
    summary: str = "Pay the courier in cash when the parcel arrives."

    def reference_for(self, order_number: str) -> None:
        return None

    def instructions(self, order_number: str, total: Decimal, currency: str,
                     reference: str | None) -> str:
        return (f"Please have {format_money(total, currency)} ready in cash for the courier "
                "when your parcel arrives.")


METHODS: dict[str, PaymentMethod] = {
    method.code: method for method in (BankTransfer(), CashOnDelivery())
}


def get_method(code: str) -> PaymentMethod:
    """The payment method with this code; `UnknownPaymentMethod` otherwise."""
    method = METHODS.get(code)
    if method is None:
        raise UnknownPaymentMethod(code)
    return method
