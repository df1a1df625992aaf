/* SPDX-License-Identifier: MIT */
#include "watch_util.h"
int main(void) { return 0; }
