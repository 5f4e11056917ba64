"""gigafactory: site model, capacity planning and policy for very large GPU sites."""

__version__ = "0.1.0"
