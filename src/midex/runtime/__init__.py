"""How the work runs: the Spark session (and the stage time budget), spark-submit, the JVM class archive."""
