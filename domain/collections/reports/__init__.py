"""Financial reports of a lender (issue 10): computed from dated facts, kept with their CSV
and XLSX files, rerun byte for byte (``service.py``)."""
