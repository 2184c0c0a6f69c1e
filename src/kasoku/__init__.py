"""kasoku: answers data queries fast."""

__version__ = "0.1.0"
