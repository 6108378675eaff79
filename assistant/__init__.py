"""An offline Arabic question-answering assistant that cites the exact passage behind every claim."""

__version__ = "0.1.0"
