"""Amounts in minor units, as each provider defines a currency's exponent.

Providers do not all follow ISO 4217: Stripe represents ISK and UGX with two decimals (always ``00``) and
MGA with none; Adyen gives CLP and ISK two decimals and CVE and IDR none; Razorpay follows ISO but for
MGA. Each table below is its provider's published one (the currency pages of its documentation); a
currency not listed has two decimals, as each provider says of its own table.
"""

import re
from decimal import Decimal, InvalidOperation

_CURRENCY = re.compile(r"[A-Z]{3}")

# ISO 4217's exceptions to two decimals (Square and Braintree amounts follow ISO 4217).
ISO_4217 = {
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
}
# docs.stripe.com/currencies: zero-decimal, three-decimal (the last digit always 0), and the special cases
# ISK and UGX, zero-decimal currencies that the API represents with two decimals for backward compatibility.
STRIPE = {
    **dict.fromkeys("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD JOD KWD OMR TND".split(), 3),
}
# docs.adyen.com/development-resources/currency-codes ("the decimals in the table on this page are leading").
ADYEN = {
    **dict.fromkeys("CVE DJF GNF IDR JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
}
# razorpay.com/docs/payments/international-payments: its table of currencies and exponents.
RAZORPAY = {
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD OMR TND".split(), 3),
}


class BadAmount(ValueError):
    """An amount or currency no provider sends; the text says which."""


def currency(code):
    """An ISO 4217 code in upper case (Stripe sends lower case), or ``BadAmount``."""
    upper = code.upper() if isinstance(code, str) else None
    if upper is None or not _CURRENCY.fullmatch(upper):
        raise BadAmount(f"currency must be a three-letter ISO 4217 code, not {code!r}")
    return upper


def from_minor(minor, code, table):
    """``(amount, amount_minor, currency)`` for an integer amount in minor units: ``amount`` is the exact
    Decimal in major units with the currency's number of decimals (1000 USD -> 10.00, 1000 JPY -> 1000)."""
    code = currency(code)
    if isinstance(minor, Decimal) and minor.is_finite() and minor == minor.to_integral_value():
        minor = int(minor)
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise BadAmount(f"amount must be an integer number of minor units, not {_shown(minor)}")
    return Decimal(minor).scaleb(-table.get(code, 2)), minor, code


def from_major(major, code, table):
    """``(amount, amount_minor, currency)`` for an amount in major units given as text ("10.00"); the
    amount must not have more decimals than its currency. Without a currency the minor amount is unknown."""
    try:
        amount = Decimal(major) if isinstance(major, str) and major.strip() == major else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise BadAmount(f"amount must be a decimal number, not {_shown(major)}")
    if code is None:
        return amount, None, None
    code = currency(code)
    minor = amount.scaleb(table.get(code, 2))
    if minor != minor.to_integral_value():
        raise BadAmount(f"amount {major} has more decimals than {code} has")
    return amount, int(minor), code


def _shown(value):
    return "nothing" if value is None else str(value)[:40]
