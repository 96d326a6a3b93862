"""Text to speech: the contract (contract.py), its engines (csm.py, piper.py) and the choice between
them (engines.py). Nothing is imported here, so importing the contract loads no engine."""
