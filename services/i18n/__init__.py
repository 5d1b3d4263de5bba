from services.i18n.catalog import Catalog, Text, Translator, load_catalog
from services.i18n.languages import DEFAULT_LANGUAGE, SUPPORTED_LANGUAGES, Language
from services.i18n.texts import client_resources

__all__ = [
    "DEFAULT_LANGUAGE",
    "SUPPORTED_LANGUAGES",
    "Catalog",
    "Language",
    "Text",
    "Translator",
    "client_resources",
    "load_catalog",
]
