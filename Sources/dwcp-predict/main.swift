import DWCPCLI
CommandMain.run(PredictCommand.self)
