"""The viewership pipeline: configuration, Spark and catalog access, the command line."""
