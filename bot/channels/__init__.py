"""The shop channels: Rasa's REST and socket.io channels, and the widget's thumbs up and down."""
