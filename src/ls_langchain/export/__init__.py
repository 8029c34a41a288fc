"""Close the loop: a project's annotations as fine-tuning (SFT) lines, preference pairs, or an evaluation report."""

from ls_langchain.export.filters import Filters
from ls_langchain.export.pipeline import FORMATS, ExportSummary, Format, export_project

__all__ = ["FORMATS", "ExportSummary", "Filters", "Format", "export_project"]
