from services.i18n.catalog import Catalog, Translator, load_catalog

__all__ = ["Catalog", "Translator", "load_catalog"]
