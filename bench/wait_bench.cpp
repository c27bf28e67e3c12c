int main() { return 0; }  // placeholder: filled in by issue 3
