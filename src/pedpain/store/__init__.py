"""The OAPC-FEI research database: models, migrations, encrypted media, import/export,
consent withdrawal, audit. Public API::

    from pedpain.store import open_store, register_derived, register_model_run

    with open_store(settings) as store:          # settings: pedpain.core.settings.Settings
        register_derived(store, "PH-0007", path, "face", stage="preprocess")
"""

# The web application's tables live on the store's Base (migration 0002): loaded with the
# package, so the metadata is complete for migrations and the models-match-migrations check.
from pedpain.store import accounts as accounts
from pedpain.store.derived import (
    Derived,
    register_derived,
    register_derived_many,
    register_model_run,
)
from pedpain.store.export import MANIFEST_COLUMNS, assign_splits, export_manifest, read_manifest
from pedpain.store.importer import ImportReport, import_cohort
from pedpain.store.maintenance import rotate_key, subject_timeline, verify_store
from pedpain.store.media import MediaKey, MediaStore, load_media_key, write_new_key
from pedpain.store.stats import collect_stats
from pedpain.store.store import Store, open_store
from pedpain.store.withdraw import WithdrawalReport, withdraw_subject

__all__ = [
    "MANIFEST_COLUMNS",
    "Derived",
    "ImportReport",
    "MediaKey",
    "MediaStore",
    "Store",
    "WithdrawalReport",
    "assign_splits",
    "collect_stats",
    "export_manifest",
    "import_cohort",
    "load_media_key",
    "open_store",
    "read_manifest",
    "register_derived",
    "register_derived_many",
    "register_model_run",
    "rotate_key",
    "subject_timeline",
    "verify_store",
    "withdraw_subject",
    "write_new_key",
]
