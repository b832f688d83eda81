"""The words' vectors and the model, served without torch: embeddings (toy, static, contextual) and
the tokenizer's word pieces (`embeddings`), all-MiniLM-L6-v2 loaded from its package and the model
of record beside it (`minilm`), BERT's forward pass in NumPy (`bert`), its heads (`heads`), learned
Q/K/V (`qkv`) and the query/key space (`qkspace`)."""
