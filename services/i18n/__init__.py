from services.i18n.catalog import Catalog, Translator, load_catalog
from services.i18n.texts import texts_with_prefix

__all__ = ["Catalog", "Translator", "load_catalog", "texts_with_prefix"]
