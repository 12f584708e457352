"""Consent withdrawal as the study's rule: the caller says explicitly whether a code the
database does not know may be recorded (the importer's consents.csv may name a child that
was never imported; a person at the page or the command line has mistyped)."""

from __future__ import annotations

from pedpain.store import Store
from pedpain.store.withdraw import WithdrawalReport, withdraw_subject
from pedpain.study.protocol import check_subject_code


def withdraw(store: Store, code: str, reason: str, *, source: str) -> WithdrawalReport:
    """Withdraw a known child (enrolled or screened out); an unknown code is refused."""
    return withdraw_subject(
        store, check_subject_code(code), reason, source=source, record_unknown=False
    )
