// chat.cpp: your chat. The specification is README.md, beside this file;
// the build compiles this file and main.cpp, on your stack (make grade
// CH=10) or on the chapters' (make grade CH=10 STACK=chapters).
#include "chat.h"
