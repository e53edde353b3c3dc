"""Start the account API stand-in, the action server and Rasa for tests and benchmarks, and talk to them."""
