// final_autoreload: runs a program and starts it anew whenever it is
// rebuilt or a watched file changes (Tornado's `python -m
// tornado.autoreload`), for working on a server without restarting it by
// hand:
//
//   build/bin/final_autoreload build/bin/demo_app --port=8888
//   build/bin/final_autoreload --watch=config.json build/bin/demo_app
//
// All of it is tornado::autoreload::main (tornado/autoreload.h).
#include "tornado/autoreload.h"

int main(int argc, char** argv) { return tornado::autoreload::main(argc, argv); }
