"""A character-level LSTM encoder-decoder (sequence to sequence) that learns to write words
backwards: "bead" -> "daeb".

Training uses teacher forcing: the encoder reads the word and hands its final states (h, c)
to the decoder through ``initial_state=[h, c]``; the decoder reads the reversed word shifted
by one (a start symbol first) and predicts each next character. Then two models are built
from the trained layers, an encoder (word -> states) and a decoder (one character and the
states -> the next character's probabilities and the new states), and words held out of
training are decoded step by step, greedily, until the end symbol.

    python examples/seq2seq_reverse.py                  # about a minute on 2 CPU cores
    python examples/seq2seq_reverse.py --latent 128 --epochs 60
"""

from __future__ import annotations

import numpy as np
from _common import parser, setup

LETTERS = "abcdefgh"
START, END = "\t", "\n"
SYMBOLS = LETTERS + START + END
INDEX = {ch: k for k, ch in enumerate(SYMBOLS)}


def words(rng, n, shortest=3, longest=6):
    """``n`` distinct random words over LETTERS."""
    seen = set()
    while len(seen) < n:
        seen.add("".join(rng.choice(list(LETTERS), rng.integers(shortest, longest + 1))))
    return sorted(seen)


def one_hot(texts, length):
    out = np.zeros((len(texts), length, len(SYMBOLS)), dtype=np.float32)
    for k, text in enumerate(texts):
        for t, ch in enumerate(text):
            out[k, t, INDEX[ch]] = 1.0
    return out


def main(argv=None):
    p = parser(__doc__, epochs=40, batch_size=64, epochs_help="passes over the training words")
    p.add_argument("--words", type=int, default=3000, help="distinct words, 10%% of them held out")
    p.add_argument("--latent", type=int, default=96, help="units of the encoder's and the decoder's LSTM")
    args = p.parse_args(argv)
    keras = setup(args)
    layers = keras.layers

    rng = np.random.default_rng(args.seed)
    vocabulary = words(rng, args.words)
    rng.shuffle(vocabulary)
    held = max(1, len(vocabulary) // 10)
    train, test = vocabulary[held:], vocabulary[:held]
    width = max(map(len, vocabulary)) + 1  # the reversed word and the end symbol
    source = one_hot(train, width - 1)
    teacher = one_hot([START + w[::-1] for w in train], width)  # what the decoder reads
    target = one_hot([w[::-1] + END for w in train], width).argmax(-1)  # what it predicts

    # training model: encoder states -> decoder's initial_state
    encoder_inputs = keras.Input((None, len(SYMBOLS)), name="word")
    encoder = layers.LSTM(args.latent, return_state=True, name="encoder")
    _, state_h, state_c = encoder(encoder_inputs)
    decoder_inputs = keras.Input((None, len(SYMBOLS)), name="reversed_so_far")
    decoder = layers.LSTM(args.latent, return_sequences=True, return_state=True, name="decoder")
    decoded, _, _ = decoder(decoder_inputs, initial_state=[state_h, state_c])
    head = layers.Dense(len(SYMBOLS), activation="softmax", name="next_char")
    model = keras.Model([encoder_inputs, decoder_inputs], head(decoded))
    model.compile(keras.optimizers.Adam(learning_rate=3e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit([source, teacher], target, batch_size=args.batch_size, epochs=args.epochs,
                        verbose=args.verbose, validation_split=0.1)
    print(f"teacher-forced accuracy per character: {history.history['accuracy'][-1]:.3f} "
          f"(validation {history.history['val_accuracy'][-1]:.3f})")

    # inference models, made of the trained layers
    encoder_model = keras.Model(encoder_inputs, [state_h, state_c])
    h_in, c_in = keras.Input((args.latent,), name="h"), keras.Input((args.latent,), name="c")
    step_out, h_out, c_out = decoder(decoder_inputs, initial_state=[h_in, c_in])
    decoder_model = keras.Model([decoder_inputs, h_in, c_in], [head(step_out), h_out, c_out])

    def reverse(batch):
        h, c = encoder_model.predict(one_hot(batch, width - 1))
        token = one_hot([START] * len(batch), 1)
        out = [""] * len(batch)
        done = np.zeros(len(batch), dtype=bool)
        for _ in range(width):
            probabilities, h, c = decoder_model.predict([token, h, c])
            chosen = keras.ops.convert_to_numpy(probabilities)[:, -1].argmax(-1)
            for k, index in enumerate(chosen):
                if not done[k]:
                    if SYMBOLS[index] == END:
                        done[k] = True
                    else:
                        out[k] += SYMBOLS[index]
            token = np.eye(len(SYMBOLS), dtype=np.float32)[chosen][:, None, :]
        return out

    answers = reverse(test)
    exact = float(np.mean([a == w[::-1] for a, w in zip(answers, test)]))
    for word, answer in list(zip(test, answers))[:5]:
        print(f"{word!r} -> {answer!r}")
    print(f"held-out words written backwards exactly: {exact:.3f} of {len(test)}")
    return exact


if __name__ == "__main__":
    main()
