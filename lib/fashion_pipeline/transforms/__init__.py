"""Pure DataFrame -> DataFrame transforms, grouped by domain. No I/O happens here."""
