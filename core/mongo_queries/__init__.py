"""What obs knows about MongoDB commands: masked statements and query shapes."""
