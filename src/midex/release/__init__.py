"""Publishing: the release bundle (Parquet, CSV, SDMX-CSV, manifest), provenance, the HTML report."""
