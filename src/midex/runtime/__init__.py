"""How the work runs: the Spark session, spark-submit, orchestration helpers for the DAGs, the JVM class archive, files read in a process of their own."""
