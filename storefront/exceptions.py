"""Domain errors raised by the services. They carry data, never HTML, and import no Flask."""

from __future__ import annotations


class StorefrontError(Exception):
    """Base of every rule the services refuse."""


class NotFound(StorefrontError):
    """The object does not exist, is inactive, or belongs to someone else."""


class CatalogImportError(StorefrontError):
    """A CSV file was refused; nothing from it was written.

    `problems` holds `(line_number, reason)` pairs, line numbers counted from 1.
    """

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the file")


class EmailTaken(StorefrontError):
    """An account with this email (in any letter case) already exists."""

    def __init__(self, email: str) -> None:
        self.email = email
        super().__init__("email taken")


class InvalidCredentials(StorefrontError):
    """Unknown email, wrong password or disabled account: deliberately one error."""


class WrongPassword(StorefrontError):
    """The signed-in shopper's current password did not match (a re-check)."""


class SoldOut(StorefrontError):
    """The product exists and is active but has no stock: it cannot be added."""

    def __init__(self, product_name: str) -> None:
        self.product_name = product_name
        super().__init__(f"{product_name} is sold out")


class CartFull(StorefrontError):
    """A new line would pass the cart's line limit."""

    def __init__(self, max_lines: int) -> None:
        self.max_lines = max_lines
        super().__init__(f"a cart holds at most {max_lines} lines")


class NotInCart(StorefrontError):
    """The product has no line in this cart."""


class InvalidToken(StorefrontError):
    """A mailed link's token that is unknown, malformed, used, expired or for another
    purpose: deliberately one error."""


class EmailUnchanged(StorefrontError):
    """An e-mail change to the address the account already has."""


class AlreadyVerified(StorefrontError):
    """The account's address is verified already: nothing to send."""
# Addresses and orders (issue 14) --------------------------------------------------------------

class AddressInvalid(StorefrontError):
    """An address breaks its country's rules; `errors` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("invalid address: " + ", ".join(sorted(errors)))


class TooManyAddresses(StorefrontError):
    """A new address would pass the address book's limit."""

    def __init__(self, max_addresses: int) -> None:
        self.max_addresses = max_addresses
        super().__init__(f"an address book holds at most {max_addresses} addresses")


class UnknownPaymentMethod(StorefrontError):
    """No payment method has this code."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__("unknown payment method")


class CheckoutChanged(StorefrontError):
    """The cart, a price or the stock changed since the review page (or the review is gone):
    nothing was placed. `changes` holds one sentence per change, for the shopper."""

    def __init__(self, changes: list[str]) -> None:
        self.changes = changes
        super().__init__("; ".join(changes))


class ImpossibleTransition(StorefrontError):
    """An order cannot go from its status to the one asked for (state machine, orders.py)."""

    def __init__(self, number: str, current: str, wanted: str) -> None:
        self.number = number
        self.current = current
        self.wanted = wanted
        super().__init__(f"order {number}: {current} cannot become {wanted}")
class SkuTaken(StorefrontError):
    """Another product already has this sku (in any letter case)."""

    def __init__(self, sku: str) -> None:
        self.sku = sku
        super().__init__(f"sku {sku} is taken")


class StockBelowZero(StorefrontError):
    """A stock adjustment would take the stock below 0 (or past the stock limit)."""

    def __init__(self, stock: int, delta: int) -> None:
        self.stock = stock
        self.delta = delta
        super().__init__(f"stock {stock} cannot change by {delta}")


class ImageRefused(StorefrontError):
    """An upload is not an image the shop takes; `reason` is for the uploader."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class SelfDisable(StorefrontError):
    """A staff member tried to disable their own account or remove their own rights."""


class StockChanged(StorefrontError):
    """A product form would overwrite a stock that changed since the form was shown."""

    def __init__(self, stock: int) -> None:
        self.stock = stock
        super().__init__(f"the stock is now {stock}")


class WishlistFull(StorefrontError):
    """A new wishlist item would pass the wishlist's limit."""

    def __init__(self, max_items: int) -> None:
        self.max_items = max_items
        super().__init__(f"a wishlist holds at most {max_items} items")


class LinkNeedsPassword(StorefrontError):
    """A provider's identity names the e-mail of an existing account, but the provider or the
    account has not verified it: the shopper signs in with the password once to link it."""

    def __init__(self, email: str) -> None:
        self.email = email
        super().__init__("sign in with the password to link")


class EmailNotVerified(StorefrontError):
    """A provider's new identity whose e-mail the provider has not verified (or gave none):
    no account is created from it."""


class IdentityConflict(StorefrontError):
    """The identity or credential was linked by another request meanwhile."""


class LastSignInMethod(StorefrontError):
    """Removing this would leave the account with no way to sign in."""
