"""midex: data exchange and harmonisation for migration and development statistics.

Nothing runs at import; heavy libraries (pyspark, great_expectations) are imported by the modules
that need them, so the CLI and the DAG files stay cheap to load.
"""

__version__ = "0.1.0"
