"""SavedModel export with named, documented signatures."""

from tfgen.export.saved_model import export_model

__all__ = ["export_model"]
