"""attnviz: self-attention made visible. The maths (core, bert, heads, geometry) is NumPy only;
figures returns Plotly figures; ui is the only module that imports Streamlit."""
