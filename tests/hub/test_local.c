/* SPDX-License-Identifier: MIT */
#include "order_log.h"
int main(void) { return 0; }
