"""Administration that is neither a conversation nor an agent: settings changed live."""
