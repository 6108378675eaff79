"""The trained reader: scores candidate sentences, decides whether the sources answer, finds the span."""
