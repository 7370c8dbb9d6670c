// The process entry of the deskpass command (bin/deskpass.js loads the compiled copy).
import { main } from './main.js';

await main(process.argv);
