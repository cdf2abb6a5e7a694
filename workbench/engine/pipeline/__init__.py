"""The request pipeline every mode hands over to: the stages a request passes through, once."""
