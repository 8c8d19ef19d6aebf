"""The analyst dashboard: `fashion report`, one self-contained HTML file of charts over the lake."""
