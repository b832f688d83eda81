"""The attention maths in NumPy, with no model: the seed's X Xᵀ → softmax → W X (`core`), two
sentences (`cross`), linear attention by random features (`linear`, FAVOR+), what attention costs
(`cost`), 2-D projections of word vectors (`geometry`), and W's pattern in words (`patterns`).

Nothing here imports anything else of attnviz: it is the bottom of the tree."""
