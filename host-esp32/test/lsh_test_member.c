#include "lsh_test.h"
void lsh_test_member(void) {}
