from services.i18n.catalog import Catalog, Translator, load_catalog
from services.i18n.languages import DEFAULT_LANGUAGE, SUPPORTED_LANGUAGES, Language
from services.i18n.texts import texts_with_prefix

__all__ = [
    "DEFAULT_LANGUAGE",
    "SUPPORTED_LANGUAGES",
    "Catalog",
    "Language",
    "Translator",
    "load_catalog",
    "texts_with_prefix",
]
