"""What every command checks and sets before it works: the torch build for the card, GPU kernel settings and
the config's types."""
