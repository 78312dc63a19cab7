/* true.c - does nothing: the start-up cost benchmark times this. */
int main(void)
{
    return 0;
}
