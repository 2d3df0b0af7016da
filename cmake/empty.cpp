// Lets a layer with no sources yet build as an empty library.
