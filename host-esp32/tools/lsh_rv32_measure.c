#include "lsh_board.h"
int main(void) { lsh_board_exit(0); }
