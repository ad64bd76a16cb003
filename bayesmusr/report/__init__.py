"""report layer: figures, Markdown and self-contained HTML reports of saved results."""
