// Placeholder entry point; the relay is being written now.
return 0;
