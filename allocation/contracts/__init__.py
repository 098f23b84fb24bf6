"""pandera contracts: the single place each input and output column's rules live."""
