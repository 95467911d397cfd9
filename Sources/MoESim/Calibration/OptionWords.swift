/// Splits a measurement row's `sim` options into words as a shell would for simple lines: whitespace separates
/// words, single or double quotes keep spaces inside one. No variables, globs or escapes beyond `\"` in double quotes.
enum OptionWords {
    static func split(_ text: String) throws -> [String] {
        var words: [String] = []
        var word = ""
        var inWord = false
        var quote: Character?
        var characters = Array(text)[...]
        while let c = characters.popFirst() {
            if let q = quote {
                if c == q {
                    quote = nil
                } else if c == "\\" && q == "\"" && characters.first == "\"" {
                    word.append(characters.removeFirst())
                } else {
                    word.append(c)
                }
            } else if c == "\"" || c == "'" {
                quote = c
                inWord = true
            } else if c == " " || c == "\t" {
                if inWord { words.append(word); word = ""; inWord = false }
            } else {
                word.append(c)
                inWord = true
            }
        }
        guard quote == nil else { throw MoESimError("an unclosed \(quote!) quote") }
        if inWord { words.append(word) }
        return words
    }
}
