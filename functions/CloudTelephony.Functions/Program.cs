// Placeholder entry point; the functions app is being written now.
return 0;
