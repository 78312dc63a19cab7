/*
 * _greenlet.c - greenlet's C module as libgmr finds it: a file named
 * _greenlet.* that exports PyGreenlet_Type. tests/targets/fakepython.c
 * loads it (build/targets/_greenlet.fake.so) to make its greenlets.
 */
__attribute__((visibility("default"))) _Alignas(64) unsigned char PyGreenlet_Type[512];
